namespace skyssl::kernels {}
