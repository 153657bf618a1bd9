"""Object detection on jaxcnn backbones: an offline Fashion-MNIST canvas dataset with known boxes, any TFDS
detection dataset by name (voc/2007, coco/2017, ...), box-consistent augmentation, a CenterNet-style anchor-free
detector (heatmap per class + size + offset), its loss, decoding with non-maximum suppression, COCO-style mAP, a
predictions picture and a resumable training loop."""
