"""Taking a run back: before-images at planning time, and the inverse planned from them."""
