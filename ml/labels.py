"""The seven FER-2013 expression classes, in the data set's own label order."""

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

EMOJI = {
    "angry": "\U0001F620",
    "disgust": "\U0001F922",
    "fear": "\U0001F628",
    "happy": "\U0001F604",
    "sad": "\U0001F622",
    "surprise": "\U0001F632",
    "neutral": "\U0001F610",
}

# FER-2013 images are 48x48 grayscale
IMAGE_SIZE = 48
