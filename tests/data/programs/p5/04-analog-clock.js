function setup() {
  createCanvas(400, 400);
  angleMode(DEGREES);
}

function draw() {
  background(245, 240, 230);
  translate(200, 200);
  rotate(-90);

  let hr = hour();
  let mn = minute();
  let sc = second();

  strokeCap(ROUND);
  noFill();

  // arcs
  strokeWeight(8);
  stroke(255, 100, 150);
  let secAngle = map(sc, 0, 60, 0, 360);
  arc(0, 0, 300, 300, 0, secAngle);

  stroke(150, 100, 255);
  let minAngle = map(mn, 0, 60, 0, 360);
  arc(0, 0, 280, 280, 0, minAngle);

  stroke(150, 255, 100);
  let hourAngle = map(hr % 12, 0, 12, 0, 360);
  arc(0, 0, 260, 260, 0, hourAngle);

  // hands
  push();
  rotate(secAngle);
  stroke(255, 100, 150);
  strokeWeight(2);
  line(0, 0, 100, 0);
  pop();

  push();
  rotate(minAngle);
  stroke(150, 100, 255);
  strokeWeight(5);
  line(0, 0, 80, 0);
  pop();

  push();
  rotate(hourAngle + mn * 0.5);
  stroke(150, 255, 100);
  strokeWeight(7);
  line(0, 0, 55, 0);
  pop();

  // tick marks
  stroke(60);
  strokeWeight(2);
  for (let i = 0; i < 12; i++) {
    push();
    rotate(i * 30);
    line(115, 0, 125, 0);
    pop();
  }

  noStroke();
  fill(40);
  ellipse(0, 0, 10, 10);
}
