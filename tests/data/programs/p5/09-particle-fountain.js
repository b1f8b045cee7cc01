let particles = [];

class Particle {
  constructor(x, y) {
    this.pos = createVector(x, y);
    this.vel = createVector(random(-1.5, 1.5), random(-6, -3));
    this.acc = createVector(0, 0.12);
    this.life = 255;
    this.size = random(4, 10);
  }

  update() {
    this.vel.add(this.acc);
    this.pos.add(this.vel);
    this.life -= 3;
  }

  show() {
    noStroke();
    fill(255, 150 + this.size * 10, 50, this.life);
    ellipse(this.pos.x, this.pos.y, this.size);
  }

  isDead() {
    return this.life <= 0;
  }
}

function setup() {
  createCanvas(400, 400);
}

function draw() {
  background(15, 15, 30);

  for (let i = 0; i < 4; i++) {
    particles.push(new Particle(width / 2, height - 40));
  }

  for (let i = particles.length - 1; i >= 0; i--) {
    particles[i].update();
    particles[i].show();
    if (particles[i].isDead()) {
      particles.splice(i, 1);
    }
  }

  fill(80);
  rect(width / 2 - 30, height - 40, 60, 40);
}
