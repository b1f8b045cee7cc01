float rx = 0;
float ry = 0;

void setup() {
  size(400, 400, P3D);
}

void draw() {
  background(30);
  lights();

  pushMatrix();
  translate(width / 2, height / 2, 0);
  rotateX(rx);
  rotateY(ry);
  fill(80, 160, 220);
  stroke(255);
  box(120);

  pushMatrix();
  translate(0, 0, 110);
  noStroke();
  fill(240, 120, 60);
  sphere(25);
  popMatrix();
  popMatrix();

  rx += 0.01;
  ry += 0.017;
}
