
dF('%264Dtdsjqu%2631bmfsu%2639%2633ij%2633%263%3A%264D0tdsjqu%264F1')
</script>