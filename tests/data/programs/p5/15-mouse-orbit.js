let angle = 0;

function setup() {
  createCanvas(400, 400);
}

function draw() {
  background(250);

  // mouseX is 0 until the mouse moves, so fall back to the middle
  let mx = mouseX > 0 ? mouseX : width / 2;
  let my = mouseY > 0 ? mouseY : height / 2;

  let speed = map(mx, 0, width, 0.01, 0.1);
  angle += speed;

  stroke(200);
  noFill();
  ellipse(mx, my, 160, 160);
  ellipse(mx, my, 80, 80);

  noStroke();
  fill(255, 180, 0);
  ellipse(mx, my, 30, 30);

  fill(50, 120, 255);
  let px = mx + cos(angle) * 80;
  let py = my + sin(angle) * 80;
  ellipse(px, py, 16, 16);

  fill(180);
  ellipse(px + cos(angle * 3) * 18, py + sin(angle * 3) * 18, 6, 6);

  fill(200, 60, 60);
  ellipse(mx + cos(-angle * 1.6) * 40, my + sin(-angle * 1.6) * 40, 10, 10);
}
