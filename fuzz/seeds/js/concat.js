
var s = 'ab' + "CD" + 'e\'f' + x + 'g' + 'h';
</script>