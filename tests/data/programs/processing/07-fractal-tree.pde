float theta;

void setup() {
  size(400, 400);
}

void draw() {
  background(255);
  stroke(0);
  float a = (mouseX > 0 ? mouseX : width * 0.4) / (float) width * 90.0;
  theta = radians(a);
  translate(width / 2, height);
  strokeWeight(2);
  line(0, 0, 0, -110);
  translate(0, -110);
  branch(110);
}

void branch(float h) {
  h *= 0.66;

  if (h > 2) {
    pushMatrix();
    rotate(theta);
    line(0, 0, 0, -h);
    translate(0, -h);
    branch(h);
    popMatrix();

    pushMatrix();
    rotate(-theta);
    line(0, 0, 0, -h);
    translate(0, -h);
    branch(h);
    popMatrix();
  }
}
