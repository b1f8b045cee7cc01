int[] values = {23, 45, 12, 67, 34, 89, 56, 41};
String[] labels = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug"};

void setup() {
  size(400, 400);
  noLoop();
}

void draw() {
  background(255);
  int maxVal = max(values);
  float chartLeft = 50;
  float chartBottom = 340;
  float chartHeight = 260;
  float barW = 35;
  float gap = 7;

  stroke(0);
  strokeWeight(1);
  line(chartLeft, chartBottom, width - 20, chartBottom);
  line(chartLeft, chartBottom, chartLeft, chartBottom - chartHeight - 10);

  textSize(11);
  textAlign(CENTER);
  for (int i = 0; i < values.length; i++) {
    float h = map(values[i], 0, maxVal, 0, chartHeight);
    float x = chartLeft + gap + i * (barW + gap);
    noStroke();
    fill(lerpColor(color(80, 160, 230), color(230, 90, 90), i / (float) (values.length - 1)));
    rect(x, chartBottom - h, barW, h);
    fill(0);
    text(values[i], x + barW / 2, chartBottom - h - 5);
    text(labels[i], x + barW / 2, chartBottom + 15);
  }

  textSize(20);
  text("Monthly visitors", width / 2, 35);
}
