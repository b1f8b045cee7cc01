ArrayList<Ball> balls = new ArrayList<Ball>();

void setup() {
  size(400, 400);
  for (int i = 0; i < 12; i++) {
    balls.add(new Ball(random(50, 350), random(50, 200), random(15, 40)));
  }
}

void draw() {
  background(240);
  for (Ball b : balls) {
    b.update();
    b.show();
  }
}

class Ball {
  float x, y;
  float vx, vy;
  float r;
  color c;

  Ball(float x, float y, float r) {
    this.x = x;
    this.y = y;
    this.r = r;
    vx = random(-3, 3);
    vy = random(-2, 2);
    c = color(random(100, 255), random(80, 200), random(150, 255));
  }

  void update() {
    vy += 0.2;
    x += vx;
    y += vy;
    if (x < r || x > width - r) {
      vx = -vx;
      x = constrain(x, r, width - r);
    }
    if (y > height - r) {
      y = height - r;
      vy *= -0.85;
    }
  }

  void show() {
    stroke(60);
    strokeWeight(1.5);
    fill(c);
    ellipse(x, y, r * 2, r * 2);
  }
}
