"""Model definitions: the phone-sized student encoder and the pretrained teacher."""
