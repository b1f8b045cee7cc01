function setup() {
  createCanvas(400, 400);
  colorMode(HSB, 360, 100, 100, 100);
}

function draw() {
  background(230, 30, 15);
  noFill();
  strokeWeight(3);

  let t = millis() / 1000;

  for (let k = 0; k < 10; k++) {
    let hue = (k * 36 + t * 40) % 360;
    stroke(hue, 80, 95, 80);
    beginShape();
    for (let x = 0; x <= width; x += 8) {
      let y = height / 2 + sin(x * 0.02 + t * 2 + k * 0.4) * (40 + k * 10);
      vertex(x, y);
    }
    endShape();
  }
}
