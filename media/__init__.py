"""diemcau.media"""
