"""diemcau.signaling"""
