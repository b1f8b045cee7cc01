function setup() {
  createCanvas(400, 400);
  noLoop();
}

function draw() {
  // sky gradient
  let top = color(40, 30, 90);
  let bottom = color(250, 140, 80);
  for (let y = 0; y < 260; y++) {
    stroke(lerpColor(top, bottom, y / 260));
    line(0, y, width, y);
  }

  // sun
  noStroke();
  fill(255, 220, 120);
  ellipse(280, 230, 110, 110);

  // far hills
  fill(120, 70, 110);
  beginShape();
  curveVertex(0, 400);
  curveVertex(0, 400);
  curveVertex(0, 260);
  curveVertex(80, 220);
  curveVertex(170, 250);
  curveVertex(260, 210);
  curveVertex(340, 240);
  curveVertex(400, 225);
  curveVertex(400, 400);
  curveVertex(400, 400);
  endShape(CLOSE);

  // near hills
  fill(60, 40, 70);
  beginShape();
  vertex(0, 400);
  vertex(0, 300);
  bezierVertex(100, 250, 180, 330, 260, 290);
  bezierVertex(320, 265, 370, 280, 400, 290);
  vertex(400, 400);
  endShape(CLOSE);

  // birds
  noFill();
  stroke(30);
  strokeWeight(2);
  bezier(100, 100, 110, 90, 115, 90, 120, 100);
  bezier(120, 100, 125, 90, 130, 90, 140, 100);
  bezier(150, 80, 157, 73, 160, 73, 165, 80);
  bezier(165, 80, 170, 73, 173, 73, 180, 80);
}
