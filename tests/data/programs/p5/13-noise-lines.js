let yoff = 0;

function setup() {
  createCanvas(400, 400);
  background(10);
}

function draw() {
  // fade instead of clearing, leaves trails
  noStroke();
  fill(10, 10, 10, 20);
  rect(0, 0, width, height);

  stroke(120, 220, 200, 160);
  strokeWeight(1.5);
  noFill();

  beginShape();
  let xoff = 0;
  for (let x = 0; x <= width; x += 5) {
    let y = map(noise(xoff, yoff), 0, 1, 80, 320);
    vertex(x, y);
    xoff += 0.03;
  }
  endShape();

  yoff += 0.01;
}
