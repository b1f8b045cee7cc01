let angle;

function setup() {
  createCanvas(400, 400);
}

function draw() {
  background(235, 245, 235);
  let a = map(sin(frameCount * 0.02), -1, 1, 15, 35);
  angle = radians(a);

  stroke(70, 45, 25);
  translate(width / 2, height);
  branch(110, 10);
}

function branch(len, weight) {
  strokeWeight(weight);
  line(0, 0, 0, -len);
  translate(0, -len);

  if (len > 8) {
    push();
    rotate(angle);
    branch(len * 0.67, weight * 0.7);
    pop();

    push();
    rotate(-angle);
    branch(len * 0.67, weight * 0.7);
    pop();
  } else {
    noStroke();
    fill(60, 160, 80, 180);
    ellipse(0, 0, 8, 8);
    stroke(70, 45, 25);
  }
}
