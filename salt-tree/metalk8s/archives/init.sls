include:
  - .mounted
  - .configured
