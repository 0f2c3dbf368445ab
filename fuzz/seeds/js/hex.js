
s="\x41\x4G\xZZ\u00411\u12G4\u\x\101\0\b\t\n\v\f\r\q\\";
</script>