float angle = 0;

void setup() {
  size(400, 400);
  smooth();
}

void draw() {
  background(25, 25, 50);

  pushMatrix();
  translate(width / 2, height / 2);
  rotate(angle);
  fill(255, 210, 60);
  stroke(255, 150, 0);
  strokeWeight(3);
  star(0, 0, 60, 140, 5);
  popMatrix();

  for (int i = 0; i < 4; i++) {
    pushMatrix();
    translate(60 + i * 93, 350);
    rotate(-angle * 2 + i);
    noStroke();
    fill(200, 200, 255);
    star(0, 0, 8, 20, 6);
    popMatrix();
  }

  angle += 0.02;
}

void star(float x, float y, float r1, float r2, int npoints) {
  float step = TWO_PI / npoints;
  float half = step / 2.0;
  beginShape();
  for (float a = 0; a < TWO_PI; a += step) {
    vertex(x + cos(a) * r2, y + sin(a) * r2);
    vertex(x + cos(a + half) * r1, y + sin(a + half) * r1);
  }
  endShape(CLOSE);
}
