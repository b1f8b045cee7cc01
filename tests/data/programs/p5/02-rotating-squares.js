function setup() {
  createCanvas(400, 400);
  rectMode(CENTER);
}

function draw() {
  background(20);
  translate(width / 2, height / 2);

  let t = frameCount * 0.01;
  noFill();
  strokeWeight(2);

  for (let i = 0; i < 12; i++) {
    push();
    rotate(t * (i + 1) * 0.3);
    let sz = 30 + i * 25;
    stroke(255, 255 - i * 18, 100 + i * 12);
    rect(0, 0, sz, sz);
    pop();
  }

  noStroke();
  fill(255, 200, 0);
  push();
  rotate(-t * 2);
  rect(0, 0, 20, 20);
  pop();
}
