ArrayList<Walker> walkers = new ArrayList<Walker>();

void setup() {
  size(400, 400);
  background(250);
  for (int i = 0; i < 6; i++) {
    walkers.add(new Walker(width / 2, height / 2));
  }
}

void draw() {
  for (Walker w : walkers) {
    w.step();
    w.show();
  }
}

class Walker {
  PVector pos;
  PVector prev;
  color c;

  Walker(float x, float y) {
    pos = new PVector(x, y);
    prev = new PVector(x, y);
    c = color(random(255), random(100), random(100, 255), 150);
  }

  void step() {
    prev.set(pos.x, pos.y, 0);
    float r = random(1);
    float stepSize = 4;
    if (r < 0.02) {
      stepSize = random(20, 40);
    }
    float a = random(TWO_PI);
    pos.x += cos(a) * stepSize;
    pos.y += sin(a) * stepSize;
    pos.x = constrain(pos.x, 0, width);
    pos.y = constrain(pos.y, 0, height);
  }

  void show() {
    stroke(c);
    strokeWeight(2);
    line(prev.x, prev.y, pos.x, pos.y);
  }
}
