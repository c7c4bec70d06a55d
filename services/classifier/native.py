"""The file names of a native checkpoint (:mod:`services.classifier.checkpoint` writes and reads it).

Apart from the format's code, which needs torch, so that :mod:`services.classifier.loader` can tell a
native checkpoint directory from a Hugging Face one without importing torch, and without the two
modules importing each other.
"""

#: The file that makes a directory a native checkpoint (written by ``emostream train classifier``).
NATIVE_CONFIG = "emostream.json"
#: The torch state dict, as safetensors.
NATIVE_WEIGHTS = "model.safetensors"
