"""Neural style transfer (Gatys, Ecker & Bethge 2016): an image optimised so that a VGG's feature maps match a
content image's and their Gram matrices match a style image's, with total-variation smoothing. The features
must come from a trained network: a randomly initialised VGG gives meaningless results."""
