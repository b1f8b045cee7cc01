float t = 0;

void setup() {
  size(400, 400);
}

void draw() {
  background(255, 230, 200);

  noStroke();
  fill(255, 120, 80);
  ellipse(300, 120, 90, 90);

  for (int layer = 0; layer < 4; layer++) {
    float base = 200 + layer * 50;
    fill(60 + layer * 10, 50 + layer * 25, 90 + layer * 15);
    beginShape();
    vertex(0, height);
    for (int x = 0; x <= width; x += 10) {
      float n = noise(x * 0.01 + t * (layer + 1) * 0.5, layer * 10);
      float y = base - n * 120;
      vertex(x, y);
    }
    vertex(width, height);
    endShape(CLOSE);
  }

  t += 0.005;
}
