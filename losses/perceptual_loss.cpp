#include "losses/perceptual_loss.h"
