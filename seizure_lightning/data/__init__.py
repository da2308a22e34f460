"""Data: manifests, video decoding, frame transforms, descriptor cache, data modules."""
