ArrayList<Spark> sparks = new ArrayList<Spark>();
PVector gravity = new PVector(0, 0.06);

void setup() {
  size(400, 400);
  colorMode(HSB, 360, 100, 100, 100);
  background(0);
}

void draw() {
  noStroke();
  fill(0, 0, 0, 15);
  rect(0, 0, width, height);

  if (frameCount % 40 == 1) {
    explode(random(80, 320), random(80, 220));
  }

  for (int i = sparks.size() - 1; i >= 0; i--) {
    Spark s = sparks.get(i);
    s.update();
    s.show();
    if (s.life <= 0) {
      sparks.remove(i);
    }
  }
}

void explode(float x, float y) {
  float hue = random(360);
  for (int i = 0; i < 80; i++) {
    float a = random(TWO_PI);
    float sp = random(0.5, 4);
    sparks.add(new Spark(x, y, cos(a) * sp, sin(a) * sp, hue + random(-20, 20)));
  }
}

class Spark {
  PVector pos, vel;
  float hue;
  float life = 100;

  Spark(float x, float y, float vx, float vy, float h) {
    pos = new PVector(x, y);
    vel = new PVector(vx, vy);
    hue = (h + 360) % 360;
  }

  void update() {
    vel.add(gravity);
    vel.mult(0.98);
    pos.add(vel);
    life -= 1.5;
  }

  void show() {
    stroke(hue, 80, 100, life);
    strokeWeight(2);
    point(pos.x, pos.y);
  }
}
