int cx, cy;
float radius = 150;

void setup() {
  size(400, 400);
  cx = width / 2;
  cy = height / 2;
}

void draw() {
  background(50);

  fill(230);
  noStroke();
  ellipse(cx, cy, radius * 2, radius * 2);

  // minute ticks
  stroke(80);
  strokeWeight(2);
  for (int i = 0; i < 60; i++) {
    float a = map(i, 0, 60, 0, TWO_PI) - HALF_PI;
    float inner = (i % 5 == 0) ? radius * 0.85 : radius * 0.92;
    line(cx + cos(a) * inner, cy + sin(a) * inner,
         cx + cos(a) * radius * 0.97, cy + sin(a) * radius * 0.97);
  }

  float s = map(second(), 0, 60, 0, TWO_PI) - HALF_PI;
  float m = map(minute() + norm(second(), 0, 60), 0, 60, 0, TWO_PI) - HALF_PI;
  float h = map(hour() % 12 + norm(minute(), 0, 60), 0, 12, 0, TWO_PI) - HALF_PI;

  strokeCap(ROUND);
  stroke(30);
  strokeWeight(8);
  line(cx, cy, cx + cos(h) * radius * 0.5, cy + sin(h) * radius * 0.5);
  strokeWeight(4);
  line(cx, cy, cx + cos(m) * radius * 0.75, cy + sin(m) * radius * 0.75);
  stroke(200, 40, 40);
  strokeWeight(2);
  line(cx, cy, cx + cos(s) * radius * 0.85, cy + sin(s) * radius * 0.85);

  // seconds arc
  noFill();
  strokeWeight(3);
  arc(cx, cy, radius * 2 + 20, radius * 2 + 20, -HALF_PI, s);

  noStroke();
  fill(200, 40, 40);
  ellipse(cx, cy, 12, 12);
}
