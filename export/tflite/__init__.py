"""The one reader of `.tflite` flatbuffers (`reader`) and the one way to run them (`runner`)."""
