int num = 40;
float[] xs = new float[num];
float[] ys = new float[num];

void setup() {
  size(400, 400);
  for (int i = 0; i < num; i++) {
    xs[i] = width / 2;
    ys[i] = height / 2;
  }
}

void draw() {
  background(20, 30, 40);

  float tx, ty;
  if (mouseX == 0 && mouseY == 0) {
    tx = width / 2 + cos(frameCount * 0.03) * 130;
    ty = height / 2 + sin(frameCount * 0.05) * 110;
  } else {
    tx = mouseX;
    ty = mouseY;
  }

  xs[0] = lerp(xs[0], tx, 0.15);
  ys[0] = lerp(ys[0], ty, 0.15);
  for (int i = 1; i < num; i++) {
    xs[i] = lerp(xs[i], xs[i - 1], 0.5);
    ys[i] = lerp(ys[i], ys[i - 1], 0.5);
  }

  noStroke();
  for (int i = num - 1; i >= 0; i--) {
    float d = map(i, 0, num, 30, 4);
    fill(100, 255 - i * 4, 120 + i * 3);
    ellipse(xs[i], ys[i], d, d);
  }

  fill(0);
  ellipse(xs[0] - 5, ys[0] - 4, 5, 5);
  ellipse(xs[0] + 5, ys[0] - 4, 5, 5);
}
