
var a\u0062c = 1; x\y = 2; var \u0041 = 3; q = a\
</script>