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

# One colour per class (sRGB hex), the only definition: the page (chart lines and areas, face
# boxes, labels, chips), the annotated videos and the timeline plots. Chosen (from the
# Okabe-Ito palette, nudged) so that every pair stays apart for normal vision and under a
# simulation of protanopia, deuteranopia and tritanopia (minimum CIEDE2000 14.6), and so that
# black text on each has a contrast of at least 4.5:1: `python bench/colour_vision.py`.
COLORS = {
    "angry": "#D2530A",
    "disgust": "#009661",
    "fear": "#B865A5",
    "happy": "#FFF755",
    "sad": "#54B3F1",
    "surprise": "#E99D0A",
    "neutral": "#BBBBBB",
}

# FER-2013 images are 48x48 grayscale
IMAGE_SIZE = 48
