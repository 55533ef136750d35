import Inference
print("emotiond")
