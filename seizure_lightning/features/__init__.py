"""From video to frame descriptors: decoding, frame transforms, the frozen frame encoder and the
patient detector. Nothing here knows about manifests, datasets or training."""
