let stars = [];
const NUM_STARS = 300;
let speed = 8;

function setup() {
  createCanvas(400, 400);
  for (let i = 0; i < NUM_STARS; i++) {
    stars.push(newStar());
  }
}

function newStar() {
  return {
    x: random(-width, width),
    y: random(-height, height),
    z: random(width),
    pz: 0
  };
}

function draw() {
  background(0);
  translate(width / 2, height / 2);

  for (let s of stars) {
    s.pz = s.z;
    s.z -= speed;
    if (s.z < 1) {
      s.x = random(-width, width);
      s.y = random(-height, height);
      s.z = width;
      s.pz = s.z;
    }

    let sx = map(s.x / s.z, 0, 1, 0, width);
    let sy = map(s.y / s.z, 0, 1, 0, height);
    let px = map(s.x / s.pz, 0, 1, 0, width);
    let py = map(s.y / s.pz, 0, 1, 0, height);

    let r = map(s.z, 0, width, 4, 0);
    noStroke();
    fill(255);
    ellipse(sx, sy, r, r);

    stroke(255, 150);
    strokeWeight(1);
    line(px, py, sx, sy);
  }
}
