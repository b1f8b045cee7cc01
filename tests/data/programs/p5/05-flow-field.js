let particles = [];
const scl = 0.005;

function setup() {
  createCanvas(400, 400);
  background(250);
  for (let i = 0; i < 500; i++) {
    particles.push(createVector(random(width), random(height)));
  }
  stroke(20, 60, 120, 18);
  strokeWeight(1);
}

function draw() {
  for (let p of particles) {
    let angle = noise(p.x * scl, p.y * scl, frameCount * 0.002) * TWO_PI * 2;
    let prevX = p.x;
    let prevY = p.y;
    p.x += cos(angle);
    p.y += sin(angle);
    line(prevX, prevY, p.x, p.y);

    if (p.x < 0 || p.x > width || p.y < 0 || p.y > height) {
      p.x = random(width);
      p.y = random(height);
    }
  }
}
