"""diemcau.web"""
