"""`dart-hf train`: supervised fine-tuning on a released dataset (`train`), with sequence
packing (`packing`) that keeps each example's attention to itself."""
