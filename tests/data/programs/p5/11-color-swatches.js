function setup() {
  createCanvas(400, 400);
  noLoop();
  noStroke();
}

function draw() {
  background(255);
  let c1 = color(255, 90, 95);
  let c2 = color(40, 110, 200);
  let c3 = color(250, 220, 80);

  let steps = 8;
  let w = width / steps;

  for (let i = 0; i < steps; i++) {
    let amt = i / (steps - 1);
    fill(lerpColor(c1, c2, amt));
    rect(i * w, 0, w, 130);

    fill(lerpColor(c2, c3, amt));
    rect(i * w, 135, w, 130);

    fill(lerpColor(c3, c1, amt));
    rect(i * w, 270, w, 130);
  }

  fill(255);
  textSize(14);
  textAlign(LEFT, TOP);
  text("red to blue", 10, 10);
  text("blue to yellow", 10, 145);
  text("yellow to red", 10, 280);
}
