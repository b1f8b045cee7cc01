let x = 200;
let y = 120;
let vx = 3.2;
let vy = 0;
const r = 25;
const gravity = 0.35;

function setup() {
  createCanvas(400, 400);
}

function draw() {
  background(230, 240, 255);

  vy += gravity;
  x += vx;
  y += vy;

  if (x > width - r || x < r) {
    vx *= -1;
    x = constrain(x, r, width - r);
  }
  if (y > height - r) {
    y = height - r;
    vy *= -0.9;
  }

  // shadow
  noStroke();
  fill(0, 40);
  let s = map(y, 0, height, 10, 60);
  ellipse(x, height - 5, s, 8);

  fill(230, 70, 60);
  stroke(120, 30, 20);
  strokeWeight(2);
  ellipse(x, y, r * 2, r * 2);
}
