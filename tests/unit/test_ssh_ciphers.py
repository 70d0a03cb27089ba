"""The cipher order ssh is given: AES-GCM first only where the CPU has AES instructions."""

from fmirror import ssh

X86 = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu vme sse2 aes avx2 sha_ni
"""
ARM = """processor\t: 0
Features\t: fp asimd aes pmull sha1
"""
OLD = """processor\t: 0
flags\t\t: fpu vme sse2
"""


def test_aes_gcm_goes_first_with_aes_instructions():
    assert ssh.cipher_options(ssh.parse_cpu_flags(X86)) == ["-o", ssh.AES_FIRST]
    assert ssh.cipher_options(ssh.parse_cpu_flags(ARM)) == ["-o", ssh.AES_FIRST]


def test_openssh_keeps_its_own_order_without_them():
    assert ssh.cipher_options(ssh.parse_cpu_flags(OLD)) == []
    assert ssh.cipher_options(ssh.parse_cpu_flags("")) == []


def test_flags_are_words_not_substrings():
    assert "aes" not in ssh.parse_cpu_flags("flags\t: vaes avx\n")
