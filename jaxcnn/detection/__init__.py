"""Object detection on jaxcnn backbones: an offline Fashion-MNIST canvas dataset with known boxes, box-consistent
augmentation, a CenterNet-style anchor-free detector (heatmap per class + size + offset), its loss, decoding
with non-maximum suppression, COCO-style mAP, a predictions picture and a resumable training loop."""
