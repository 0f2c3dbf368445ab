
document.write(unescape('%u0041%u00e9%u4e2d%3C%3e%zz%4'));
var y=unescape("%00%u0000")
</script>