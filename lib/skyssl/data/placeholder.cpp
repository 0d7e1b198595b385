namespace skyssl::data {}
