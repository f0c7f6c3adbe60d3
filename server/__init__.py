"""diemcau.server"""
