
var s = 'abc\'def
</script>