const cols = 10;
const rows = 10;

function setup() {
  createCanvas(400, 400);
  noLoop();
}

function draw() {
  background(255, 250, 240);
  let w = width / cols;
  let h = height / rows;

  noFill();
  strokeWeight(4);
  stroke(30, 60, 90);

  for (let i = 0; i < cols; i++) {
    for (let j = 0; j < rows; j++) {
      let x = i * w;
      let y = j * h;
      if (random() < 0.5) {
        arc(x, y, w, h, 0, HALF_PI);
        arc(x + w, y + h, w, h, PI, PI + HALF_PI);
      } else {
        arc(x + w, y, w, h, HALF_PI, PI);
        arc(x, y + h, w, h, PI + HALF_PI, TWO_PI);
      }
    }
  }

  // a few coloured cells on top
  noStroke();
  for (let k = 0; k < 6; k++) {
    let i = floor(random(cols));
    let j = floor(random(rows));
    fill(random(200, 255), random(80, 160), 60, 120);
    rect(i * w, j * h, w, h);
  }
}
