int cols = 12;
int rows = 12;

void setup() {
  size(400, 400);
  colorMode(HSB, 360, 100, 100);
  noLoop();
}

void draw() {
  background(0, 0, 97);
  float cw = width / (float) cols;
  float ch = height / (float) rows;

  noStroke();
  for (int i = 0; i < cols; i++) {
    for (int j = 0; j < rows; j++) {
      float hue = map(i + j, 0, cols + rows - 2, 180, 340);
      float sat = map(j, 0, rows - 1, 40, 100);
      fill(hue, sat, 90);
      float d = random(0.4, 0.95) * min(cw, ch);
      float x = i * cw + cw / 2;
      float y = j * ch + ch / 2;
      if (random(1) < 0.25) {
        rectMode(CENTER);
        rect(x, y, d, d);
      } else {
        ellipse(x, y, d, d);
      }
    }
  }
}
