ArrayList<Particle> particles;

void setup() {
  size(400, 400);
  particles = new ArrayList<Particle>();
}

void draw() {
  background(0);
  particles.add(new Particle(new PVector(width / 2, 80)));
  particles.add(new Particle(new PVector(width / 2, 80)));

  for (int i = particles.size() - 1; i >= 0; i--) {
    Particle p = particles.get(i);
    p.run();
    if (p.isDead()) {
      particles.remove(i);
    }
  }
}

class Particle {
  PVector location;
  PVector velocity;
  PVector acceleration;
  float lifespan;

  Particle(PVector l) {
    acceleration = new PVector(0, 0.05);
    velocity = new PVector(random(-1, 1), random(-2, 0));
    location = l.get();
    lifespan = 255.0;
  }

  void run() {
    update();
    display();
  }

  void update() {
    velocity.add(acceleration);
    location.add(velocity);
    lifespan -= 2.0;
  }

  void display() {
    stroke(255, lifespan);
    fill(120, 180, 255, lifespan);
    ellipse(location.x, location.y, 8, 8);
  }

  boolean isDead() {
    return lifespan < 0.0;
  }
}
