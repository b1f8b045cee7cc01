"""Training sets from rendered drawings: filters, perceptual-hash dedupe, export formats."""
